// Loads digits.onnx (a theanine model exported to ONNX) with onnxruntime-web and classifies 8x8 digits:
// drawn on the canvas (averaged down to 8x8 cells) or picked from digits_test.json's test images.
// window.classify(images) (a list of flat pixel arrays in [0, 1]) returns the probabilities, for tests.
"use strict";

const GRID = 8;
const state = { session: null, inputShape: null, data: null };

ort.env.wasm.numThreads = 1; // no SharedArrayBuffer needed: the page works on any static server
ort.env.wasm.wasmPaths = new URL("node_modules/onnxruntime-web/dist/", location.href).href;

async function classify(images) {
  const size = GRID * GRID;
  const flat = new Float32Array(images.length * size);
  images.forEach((image, i) => flat.set(image, i * size));
  const input = new ort.Tensor("float32", flat, [images.length, ...state.inputShape]);
  const feeds = { [state.session.inputNames[0]]: input };
  const output = (await state.session.run(feeds))[state.session.outputNames[0]];
  const classes = output.dims[1];
  return images.map((_, i) => Array.from(output.data.slice(i * classes, (i + 1) * classes)));
}

function show(probabilities, label) {
  const best = probabilities.indexOf(Math.max(...probabilities));
  document.getElementById("prediction").textContent = String(best);
  document.getElementById("truth").textContent = label === undefined ? "" : `(label ${label})`;
  const table = document.getElementById("probabilities");
  table.innerHTML = "";
  probabilities.forEach((p, digit) => {
    const row = table.insertRow();
    row.className = digit === best ? "best" : "";
    row.dataset.digit = String(digit);
    row.insertCell().textContent = String(digit);
    const value = row.insertCell();
    value.className = "value";
    value.textContent = p.toFixed(6);
    const bar = row.insertCell();
    bar.className = "bar";
    bar.innerHTML = `<div style="width:${Math.round(p * 200)}px"></div>`;
  });
}

// -- the canvas ---------------------------------------------------------------------------------

const pad = document.getElementById("pad");
const pen = pad.getContext("2d");

function clearPad() {
  pen.fillStyle = "black";
  pen.fillRect(0, 0, pad.width, pad.height);
}

function drawPixels(pixels) {
  const cell = pad.width / GRID;
  pixels.forEach((v, k) => {
    const level = Math.round(255 * Math.min(Math.max(v, 0), 1));
    pen.fillStyle = `rgb(${level},${level},${level})`;
    pen.fillRect((k % GRID) * cell, Math.floor(k / GRID) * cell, cell, cell);
  });
}

function readPixels() {
  const cell = pad.width / GRID;
  const rgba = pen.getImageData(0, 0, pad.width, pad.height).data;
  const pixels = new Array(GRID * GRID).fill(0);
  for (let y = 0; y < pad.height; y++) {
    for (let x = 0; x < pad.width; x++) {
      pixels[Math.floor(y / cell) * GRID + Math.floor(x / cell)] += rgba[4 * (y * pad.width + x)] / 255;
    }
  }
  return pixels.map((total) => total / (cell * cell));
}

let drawing = false;
pad.addEventListener("pointerdown", (e) => { drawing = true; stroke(e); });
pad.addEventListener("pointermove", (e) => { if (drawing) stroke(e); });
window.addEventListener("pointerup", () => { drawing = false; });

function stroke(e) {
  const box = pad.getBoundingClientRect();
  pen.fillStyle = "white";
  pen.beginPath();
  pen.arc(e.clientX - box.left, e.clientY - box.top, pad.width / 14, 0, 2 * Math.PI);
  pen.fill();
}

// -- start ----------------------------------------------------------------------------------------

async function pick(index) {
  drawPixels(state.data.images[index]);
  const [probabilities] = await classify([state.data.images[index]]);
  show(probabilities, state.data.labels[index]);
  document.body.dataset.picked = String(index);
}

async function start() {
  clearPad();
  state.data = await (await fetch("digits_test.json")).json();
  state.inputShape = state.data.input_shape;
  state.session = await ort.InferenceSession.create("digits.onnx", { executionProviders: ["wasm"] });
  const samples = document.getElementById("samples");
  state.data.images.forEach((_, i) => {
    const button = document.createElement("button");
    button.textContent = String(i);
    button.id = `sample-${i}`;
    button.addEventListener("click", () => pick(i));
    samples.appendChild(button);
  });
  document.getElementById("classify").addEventListener("click", async () => {
    const [probabilities] = await classify([readPixels()]);
    show(probabilities);
  });
  document.getElementById("clear").addEventListener("click", clearPad);
  window.classify = classify;
  document.getElementById("status").textContent =
    `Model loaded (onnxruntime-web ${(ort.env.versions || {}).web || "?"}); input ${state.session.inputNames[0]}.`;
  document.body.dataset.ready = "true";
}

start().catch((error) => {
  document.getElementById("status").textContent = `Failed: ${error}`;
  document.body.dataset.ready = "error";
});

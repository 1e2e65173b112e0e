"""The CUDA runtimes: ``cuda`` (a GPU through pycuda) and ``cuda-emulated`` (the same kernels compiled
with g++ under ``codegen/cuda/emulation.h`` and run on the CPU).  Both run a program through
``runner.DeviceRunner``; only the device (memory, copies, kernel calls) differs."""

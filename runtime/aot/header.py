"""The C header of a native library: its ABI, and the function's inputs and outputs.

The ABI is the same for every library (``runtime.c`` implements it); only
the prefix, the counts and the table of inputs and outputs in the comment
differ.  The header is the library's documentation, so it says everything a
C caller needs: dtypes, ranks and static dims, buffer layout, statuses,
threads.
"""

from __future__ import annotations

import numpy as np

from theanine.codegen.program.kernel_ir import Program

__all__ = ["render"]

C_TYPES = {"float32": "float", "float64": "double", "float16": "uint16_t (IEEE half bits)", "bool": "uint8_t",
           "int8": "int8_t", "int16": "int16_t", "int32": "int32_t", "int64": "int64_t", "uint8": "uint8_t",
           "uint16": "uint16_t", "uint32": "uint32_t", "uint64": "uint64_t"}

_ABI = """\
/* Arrays are dense, C order (row-major), each element aligned for its type.
   A shape is an array of int64_t, one per axis (none for a 0-d array).

   Statuses: 0 is success; the negative ones below; a positive status means a
   run-time check of the computation failed (shapes that do not agree, an
   index out of bounds), and @P@_error(status) names the op and the line of
   the Python source that created it.  Nothing is written out of bounds. */
#define @U@_OK 0
#define @U@_E_ARGUMENT (-1) /* a required pointer is NULL */
#define @U@_E_SHAPE (-2)    /* an input's dims do not fit its rank or static dims */
#define @U@_E_MEMORY (-3)   /* out of memory */
#define @U@_E_THREADS (-4)  /* the worker threads could not start */

/* A context holds the worker threads and the temporaries kept between calls.
   threads <= 0: one per online CPU.  A context runs one call at a time; use
   one context per calling thread (work split across a context's threads
   runs one call at a time in the whole process; single-threaded work runs
   concurrently).  Returns NULL when out of memory or threads fail to start. */
typedef struct @P@_context @P@_context;
@P@_context *@P@_create(int threads);
void @P@_destroy(@P@_context *context);

/* The outputs' shapes for inputs of the given shapes: output_shapes[j] must
   hold @U@_OUTPUT_RANKS[j] entries.  Use it to size the output buffers. */
int @P@_output_shapes(const int64_t *const input_shapes[], int64_t *const output_shapes[]);

/* Runs the function: inputs[k] points at input k's data, of shape
   input_shapes[k]; outputs[j] at caller memory of output j's size (from
   @P@_output_shapes), written densely.  context NULL: runs on the calling
   thread with temporaries allocated for this call.  Outputs must not
   overlap inputs; inputs are never written. */
int @P@_run(@P@_context *context, const void *const inputs[], const int64_t *const input_shapes[],
            void *const outputs[]);

/* A static message for a status. */
const char *@P@_error(int status);
"""


def render(name: str, function, program: Program) -> str:
    """The header text for library ``name`` of ``function`` (lowered as ``program``)."""
    upper = name.upper()
    out_buffers = [program.buffers[a.buffer] for a in program.outputs]
    lines = [f"/* {name}.h: the C interface of {name}.so, a theanine function compiled ahead of time",
             "   (theanine.aot.compile).  Generated: do not edit.  Link with -l:" + name + ".so (or dlopen it). */",
             f"#ifndef {upper}_H", f"#define {upper}_H", "", "#include <stdint.h>", "",
             "#ifdef __cplusplus", 'extern "C" {', "#endif", "", "/* Inputs:"]
    for k, var in enumerate(function.inputs):
        lines.append(f"     {k}  {var.name or '(unnamed)'}: {_describe(var.dtype, var.type.shape)}")
    lines.append("   Outputs:")
    for j, var in enumerate(function.outputs):
        dtype = program.buffers[program.outputs[j].buffer].dtype
        lines.append(f"     {j}  {var.name or '(unnamed)'}: {_describe(dtype, var.type.shape)}")
    if function.shared:
        names = ", ".join(s.label() for s in function.shared)
        lines.append(f"   Baked in (their values when the library was compiled): {names}.")
    lines += ["   A ? is any size.  Element sizes in bytes: the *_ITEMSIZES. */",
              f"#define {upper}_NUM_INPUTS {len(function.inputs)}",
              f"#define {upper}_NUM_OUTPUTS {len(function.outputs)}",
              f"#define {upper}_INPUT_RANKS {{{', '.join(str(v.ndim) for v in function.inputs) or '0'}}}",
              f"#define {upper}_OUTPUT_RANKS {{{', '.join(str(len(a.axes)) for a in program.outputs)}}}",
              f"#define {upper}_INPUT_ITEMSIZES {{{', '.join(_itemsize(v.dtype) for v in function.inputs) or '0'}}}",
              f"#define {upper}_OUTPUT_ITEMSIZES {{{', '.join(_itemsize(b.dtype) for b in out_buffers)}}}", ""]
    lines.append(_ABI.replace("@P@", name).replace("@U@", upper))
    lines += ["#ifdef __cplusplus", "}", "#endif", "", f"#endif /* {upper}_H */", ""]
    return "\n".join(lines)


def _itemsize(dtype: str) -> str:
    return str(np.dtype(dtype).itemsize)


def _describe(dtype: str, shape: tuple) -> str:
    dims = ", ".join("?" if d is None else str(d) for d in shape)
    return f"{dtype} [{dims}]  ({C_TYPES[dtype]} elements)"

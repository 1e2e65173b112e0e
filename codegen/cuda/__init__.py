"""The CUDA printer: the kernel program as CUDA C (``printer``), its scalar op table (``scalar``), the
launch each kernel needs (``launch``), and the header that runs the same source on the CPU (``emulation.h``)."""

"""The glue between CPython objects and native code, not code generation.

``layout`` holds every assumption about CPython's and NumPy's binary
layout and verifies it at start-up; ``fast_call_ir`` prints the native
fast call function from those facts and ``fast_call`` binds it to
compiled functions.
"""

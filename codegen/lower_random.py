"""Lowering rules for the random ops (Philox4x32-10 streams): native kernels instead of host calls."""

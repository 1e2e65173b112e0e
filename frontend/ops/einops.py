"""Keras' ``ops.rearrange``: einops-style axis permutation, merging and splitting.

``"b (h h1) w c -> b h w (c h1)"``: each side names axes; a parenthesized
group on the left splits an axis (all but one of its parts given as keyword
lengths), on the right merges axes.  Like Keras' own implementation it
reshapes to the split axes, transposes, then reshapes to the merged ones;
ellipses and anonymous axes are not supported.
"""

from __future__ import annotations

import re

import theanine as th
from theanine.frontend.ops.core import shape
from theanine.frontend.ops.eager import eager

__all__ = ["rearrange"]

_TOKEN = re.compile(r"\w+|\([\w\s]*\)")


def _groups(side: str, pattern: str) -> list[list[str]]:
    leftover = _TOKEN.sub("", side).strip()
    if leftover:
        raise ValueError(f"ops.rearrange: cannot parse {leftover!r} in pattern {pattern!r}")
    return [token.strip("()").split() if token.startswith("(") else [token] for token in _TOKEN.findall(side)]


def _product(values):
    total = 1
    for v in values:
        total = total * v
    return total


@eager
def rearrange(tensor, pattern: str, **axes_lengths):
    """``tensor`` rearranged as ``pattern`` says (see the module docstring)."""
    if pattern.count("->") != 1:
        raise ValueError(f"ops.rearrange: the pattern must have one '->'. Received: {pattern!r}")
    x = th.as_tensor_variable(tensor)
    left, right = (_groups(side, pattern) for side in pattern.split("->"))
    if len(left) != x.ndim:
        raise ValueError(f"ops.rearrange: the pattern's input side names {len(left)} axes for a tensor of "
                         f"rank {x.ndim} ({x.type})")
    sizes, names = dict(axes_lengths), [name for group in left for name in group]
    if sorted(names) != sorted(name for group in right for name in group) or len(set(names)) != len(names):
        raise ValueError(f"ops.rearrange: both sides must name the same axes once each. Received: {pattern!r}")
    for group, dim in zip(left, shape(x), strict=True):
        unknown = [name for name in group if name not in sizes]
        if len(unknown) > 1:
            raise ValueError(f"ops.rearrange: give the lengths of all but one of {group} (missing {unknown})")
        if unknown:
            sizes[unknown[0]] = dim // _product(sizes[name] for name in group if name != unknown[0])
    split = th.reshape(x, tuple(sizes[name] for name in names))
    order = [names.index(name) for group in right for name in group]
    return th.reshape(th.transpose(split, order), tuple(_product(sizes[n] for n in group) for group in right))

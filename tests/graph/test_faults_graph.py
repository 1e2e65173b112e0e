"""Errors annotated with the failing node keep a catchable type.

NumPy's ``_ArrayMemoryError`` cannot be made from a message alone, so an
allocation failure inside a node's ``perform`` used to come out as a
``RuntimeError``: ``except MemoryError`` missed it.
"""

import numpy as np
import pytest

import theanine as th
from theanine.graph.evaluate import annotate_error

THIS_FILE = __file__.rsplit("/", 1)[-1]


class ShapeError(ValueError):
    """Like NumPy's memory error: the constructor takes more than a message."""

    def __init__(self, shape, dtype):
        super().__init__(f"no room for {shape} {dtype}")


def test_an_error_type_that_takes_no_message_gives_way_to_its_nearest_base():
    x = th.vector("x")
    node = (x * 2).owner
    annotated = annotate_error(ShapeError((3,), "float32"), node, [np.ones(3, "float32")])
    assert type(annotated) is ValueError
    assert str(annotated).startswith("no room for (3,) float32 [while computing Elemwise{mul")
    assert annotated.theanine_node is node


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_an_impossible_allocation_is_a_memory_error_naming_the_node(backend):
    n = th.lscalar("n")
    f = th.function([n], th.zeros((n, n)) + 1.0, backend=backend)
    with pytest.raises(MemoryError, match=r"(?s)Unable to allocate.*while computing .*" + THIS_FILE):
        f(10**7)
    np.testing.assert_array_equal(f(2), np.ones((2, 2)))


def test_einsum_names_the_subscript_whose_sizes_disagree():
    a, b = th.tensor("a", shape=(2, 3)), th.tensor("b", shape=(4, 5))
    with pytest.raises(ValueError, match=r"einsum: subscript 'j' of 'ij,jk->ik' has size 3 in operand 0 and "
                                         r"size 4 in operand 1"):
        th.einsum("ij,jk->ik", a, b)
    with pytest.raises(ValueError, match=r"subscript 'i' of 'ii->i' has size 2 in operand 0 and size 3"):
        th.einsum("ii->i", a)


def test_einsum_still_broadcasts_size_one_axes():
    a, b = th.tensor("a", shape=(1, 3)), th.tensor("b", shape=(2, 3))
    x, y = np.arange(3, dtype="float32").reshape(1, 3), np.ones((2, 3), "float32")
    f = th.function([a, b], th.einsum("ij,ij->ij", a, b))
    np.testing.assert_array_equal(f(x, y), np.einsum("ij,ij->ij", x, y))

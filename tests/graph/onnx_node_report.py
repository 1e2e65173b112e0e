"""Print the ONNX backend node tests through ``th.onnx.load``: passed / failed / unsupported per op.

    python tests/graph/onnx_node_report.py [--backend numpy|llvm] [--feed-integers] [--details]

Each case is translated by the reader, compiled and compared with the
case's expected outputs (onnx's runner tolerances).  A case is "unsupported"
when the reader refuses one of its nodes (the op, or an attribute value),
"failed" for any other error or a wrong value.  The op of a case is its
first node's (the node under test).
"""

from __future__ import annotations

import argparse
import collections
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from onnx_node_cases import all_node_cases, run_node_case  # noqa: E402


def report(backend: str = "numpy", mode: str | None = None, bind_integers: bool = True) -> dict[str, tuple[str, str]]:
    return {name: run_node_case(name, backend, mode, bind_integers) for name in all_node_cases()}


def per_op(results: dict) -> dict[str, collections.Counter]:
    cases = all_node_cases()
    table = collections.defaultdict(collections.Counter)
    for name, (outcome, _) in results.items():
        table[cases[name][0].graph.node[0].op_type][outcome] += 1
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("--mode", default=None, help="rewrite set: fast_run (default) or fast_compile")
    parser.add_argument("--feed-integers", action="store_true",
                        help="feed integer inputs at run time instead of binding them as constants")
    parser.add_argument("--details", action="store_true", help="print each failed case and why")
    args = parser.parse_args()
    results = report(args.backend, args.mode, not args.feed_integers)
    table = per_op(results)
    print(f"{'op':28s} passed failed unsupported")
    for op, counts in sorted(table.items()):
        print(f"{op:28s} {counts['passed']:6d} {counts['failed']:6d} {counts['unsupported']:11d}")
    total = collections.Counter(outcome for outcome, _ in results.values())
    ops_all_passed = sum(1 for c in table.values() if c["passed"] and not c["failed"] and not c["unsupported"])
    print(f"cases: {len(results)}; passed {total['passed']}, failed {total['failed']}, "
          f"unsupported {total['unsupported']}; ops: {len(table)}, every case passed for {ops_all_passed}")
    if args.details:
        for name, (outcome, detail) in sorted(results.items()):
            if outcome != "passed":
                print(f"  {outcome:11s} {name}: {detail}")


if __name__ == "__main__":
    main()

"""opfromgraph ops."""

__all__: list[str] = []

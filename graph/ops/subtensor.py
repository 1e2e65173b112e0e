"""subtensor ops."""

__all__: list[str] = []

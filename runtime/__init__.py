"""theanine.runtime: compile graphs with a backend and call them."""

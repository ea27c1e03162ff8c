"""Core tasks: constants, functions, operators, collections."""

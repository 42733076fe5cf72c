"""Training and report commands (filled in with the engine)."""


def add_commands(sub) -> None:
    return None

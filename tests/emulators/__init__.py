"""Session-scoped emulator fixtures (pytest plugins registered in tests/conftest.py).

Each emulator is an npm package pinned in package.json (installed by `make test` through `npm ci`), started once
per test session on a free loopback port; each test uses fresh names (containers, databases, queues).
"""

"""One owner registry for customer ids, for every plugin (contract sections 4 and 13).

- `owners.py`: `CustomerOwners` (`platform.customers`, core.api's `CustomerOwners`): who
  owns a customer id, claims, and the rule every plugin applies (`check`, `accepts`);
- `models.py`: its table, `core_customer` (Tortoise app `core`);
- `reconcile.py`: `reconcile`, what the migrations run to fold the plugins' old owner
  tables into `core_customer` (core.api's `reconcile_customer_owners`).

This package's `__init__` imports nothing of the core (tests/test_architecture.py).
"""

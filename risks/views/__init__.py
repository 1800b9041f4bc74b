"""Pages of the register, one module per domain: ``risks`` and ``incidents``."""

"""The readiness policy engine: policy files in, a pure evaluation of facts to a verdict."""

"""Decision rules: runs -> a verdict. One module per rule (compare, threshold, equivalence, rate,
order), each a DecisionRule subclass registered by name and found on disk; base.py says what a
rule declares. No torch, no pandas."""
from trickbench.rules.base import (DECIDED, EQUIVALENT, INCONCLUSIVE, NO_DATA, NOT_EQUIVALENT, NOT_REPLICATED,  # noqa: F401
                                   REPLICATED, REVERSED, RULES, DecisionRule, get, load_all, names, register)

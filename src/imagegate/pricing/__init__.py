"""Pure pricing: token rules, price rows, quote (upper bound) and settle (actual). No I/O."""

"""What every tickplant part shares: configuration, logging, connections and schema loading.

It imports no part and nothing from the `tickplant` shell.
"""

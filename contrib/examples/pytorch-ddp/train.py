"""Shows the distributed environment each process receives."""
import os

keys = ["RANK", "LOCAL_RANK", "WORLD_SIZE", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT"]
print(" ".join(f"{k}={os.environ.get(k, '?')}" for k in keys), flush=True)

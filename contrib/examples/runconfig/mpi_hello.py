"""Prints the MPI rank variables Azure ML gives each process."""
import os

keys = ["OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "AZ_BATCH_MASTER_NODE"]
print(" ".join(f"{k}={os.environ.get(k, '?')}" for k in keys), flush=True)

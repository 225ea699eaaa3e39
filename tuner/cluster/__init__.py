"""Running tune past one machine: SLURM through submitit, Optuna's gRPC storage proxy."""

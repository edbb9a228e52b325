"""Short training runs of the zoo's models: the paper's recipe, checkpoints, resume and DDP."""

from blvprof.train.loop import TrainingDiverged
from blvprof.train.run import train_model
from blvprof.train.spec import TrainSpec

__all__ = ["TrainSpec", "TrainingDiverged", "train_model"]

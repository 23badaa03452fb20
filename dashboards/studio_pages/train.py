"""Dataset, base model, task, preset params -> the config's YAML -> training (a job) -> curves and the gate's verdict."""

from wrapper.studio.ui_train import page_train

page_train()

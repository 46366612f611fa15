"""gan's Hydra sweepers (found by Hydra's plugin discovery in the `hydra_plugins` namespace):
`grid`, Hydra's basic sweeper that resumes a sweep run again into the same folder, and `optuna`,
a hyperparameter search on Optuna's ask/tell API. Their logic lives in gan_cli; these modules
only adapt it to Hydra's Sweeper interface and import nothing heavy (Hydra imports every plugin
module on start)."""

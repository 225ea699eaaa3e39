// A plausible but untuned default for scikit-learn's 8x8 digits (runs offline):
// plain SGD with a modest learning rate, as the seed's baseline was. It is
// configs/digits_optuna.jsonnet with fixed values; `make demo` shows how much
// tuning those values gains.
local seed = 42;

// hyperparameters
local lr = 0.05;
local dropout = 0.2;
local hidden_dim = 64;
local num_filters = 16;
local batch_size = 64;
local optimizer = 'sgd';

{
  random_seed: seed,
  numpy_seed: seed,
  pytorch_seed: seed,
  dataset_reader: {
    type: 'sklearn',
    dataset: 'digits',
    validation_fraction: 0.25,
  },
  train_data_path: 'train',
  validation_data_path: 'validation',
  model: {
    type: 'cnn',
    channels: [num_filters, 2 * num_filters],
    hidden_dim: hidden_dim,
    dropout: dropout,
  },
  data_loader: {
    batch_size: batch_size,
  },
  validation_data_loader: {
    batch_size: 1000,
  },
  trainer: {
    num_epochs: 15,
    patience: 5,
    optimizer: {
      type: optimizer,
      lr: lr,
    },
    validation_metric: '+accuracy',
    num_threads: 1,
  },
}

// configs/digits_baseline.jsonnet with its hyperparameters read from ext vars,
// which `tune` fills from search_spaces/digits.json for every trial. Run it once by hand:
//   lr=0.01 dropout=0.2 hidden_dim=64 num_filters=16 batch_size=64 optimizer=adam \
//     python -m tuner.train configs/digits_optuna.jsonnet -s result
local seed = 42;

local lr = std.parseJson(std.extVar('lr'));
local dropout = std.parseJson(std.extVar('dropout'));
local hidden_dim = std.parseInt(std.extVar('hidden_dim'));
local num_filters = std.parseInt(std.extVar('num_filters'));
local batch_size = std.parseInt(std.extVar('batch_size'));
local optimizer = std.extVar('optimizer');

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

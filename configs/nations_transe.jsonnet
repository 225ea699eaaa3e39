// TransE on PyKEEN's Nations dataset (shipped inside the pykeen wheel, so this runs offline).
// Every key except `trainer` is a keyword argument of pykeen.pipeline.pipeline(); `trainer` tells
// `tune` the objective (best validation MRR, maximised) and the adapter how often to evaluate.
// Needs `pip install 'tuner[pykeen]'` and the PyKEEN trainer as the trial command:
//
//   tune configs/nations_transe.jsonnet search_spaces/nations_transe.json \
//     --command "python -m tuner.pykeen_trainer {config} -s {serialization_dir}" --n-trials 20
//
// The searched ranges are PyKEEN's hpo_pipeline defaults for TransE; lr is log-uniform here, uniform
// in hpo_pipeline (see docs/pykeen.md).
{
  dataset: 'nations',
  model: 'TransE',
  model_kwargs: {
    embedding_dim: std.parseInt(std.extVar('embedding_dim')),
    scoring_fct_norm: std.parseInt(std.extVar('scoring_fct_norm')),
  },
  loss: 'MarginRankingLoss',
  loss_kwargs: { margin: std.parseJson(std.extVar('margin')) },
  optimizer: 'Adam',
  optimizer_kwargs: { lr: std.parseJson(std.extVar('lr')) },
  training_loop: 'sLCWA',
  negative_sampler: 'basic',
  negative_sampler_kwargs: { num_negs_per_pos: std.parseInt(std.extVar('num_negs_per_pos')) },
  training_kwargs: {
    num_epochs: 20,
    batch_size: std.parseInt(std.extVar('batch_size')),
  },
  evaluator: 'RankBasedEvaluator',
  // Nations has 14 entities: one evaluation batch holds all of it (and skips PyKEEN's CPU batch-size probe).
  evaluation_kwargs: { batch_size: 1024 },
  random_seed: 0,
  trainer: {
    validation_metric: '+mrr',
    eval_every: 2,
  },
}

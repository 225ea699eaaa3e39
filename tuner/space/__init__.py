"""The search space: parameters, their conditions and their validation. Pure data: no files, no Jsonnet.

``parameters`` holds the model (:class:`Parameter`, :class:`SearchSpace`, conditions as data),
``conditions`` checks and orders conditional parameters, ``parse`` validates both file formats
(allennlp-optuna's list and PyKEEN's mapping) once they are loaded.
"""

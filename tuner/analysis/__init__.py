"""Looking at a study: trial rows and details, plots, importance, export, and retraining configs over seeds."""

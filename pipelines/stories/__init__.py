"""The story stage: the bulk Beam job, the batch storyteller it runs, the gallery and story collections."""

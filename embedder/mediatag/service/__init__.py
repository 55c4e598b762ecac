"""`mediatag serve`: one process that holds the models (loopback HTTP API) and runs the job worker."""

"""Wire facts read from Spinnaker's upstream source, one module per system; each test cites the file it comes from."""

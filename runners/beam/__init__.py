"""The Beam runner: translates fluvial pipelines to apache_beam."""

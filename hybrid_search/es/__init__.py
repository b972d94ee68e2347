"""Everything that talks to Elasticsearch: client, local node, mappings, query bodies, bulk indexing."""

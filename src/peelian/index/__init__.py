"""Search index: what an officer's question is answered from.

- `documents`: the index documents built from a snapshot's entities and free text,
  one per entity and security label (marking, compartment, sharing roles), so a
  viewer's filter is part of the query and never applied afterwards;
- `build`: the Tantivy schema, building a snapshot's index and switching to it
  atomically;
- `access`: the viewer a search runs for and the filter their clearance gives;
- `query`: what the search box was given (names, DOB, VRM, postcode, phone,
  identifier, free text, fielded terms and filters);
- `search`: running a query: ranking, collapsing, facets, paging, matched fields;
- `pgtrgm`: the PostgreSQL pg_trgm baseline the benchmark compares against.
"""

"""Sources: the mapping files that say how to read each source system.

`load_mapping` reads and checks one mapping (docs/mappings.md) and
`load_mappings` a set of them; the presets for well-known public formats are
in `presets/`. Reading the data itself is the ingest's job.
"""

from peelian.sources.mapping import (
    Mapping,
    MappingError,
    Problem,
    load_mapping,
    load_mappings,
    presets,
)

__all__ = ["Mapping", "MappingError", "Problem", "load_mapping", "load_mappings", "presets"]

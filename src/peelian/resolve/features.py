"""The per-mention features the matchers compare, built in SQL from the hub tables.

A person mention's phones and addresses may sit on the person row itself or on
mentions linked to it (`HAS_PHONE`, `LIVES_AT`); both are gathered here, so the
model sees one row per person mention whatever the source's shape.
"""

from __future__ import annotations

import duckdb

from peelian.hub import TEXT_SOURCE

# Identifier schemes a person holds at most one value of: two different valid
# values mean two different people (or a data error, which goes to review).
SINGLE_VALUED_SCHEMES = (
    "pnc",
    "cro",
    "ni",
    "nhs",
    "upn",
    "passport",
    "driving_licence",
    "collar_number",
)

# Every person mention's valid identifiers, once: the features and the clustering
# of nameless mentions (an officer by collar number) both read it.
PERSON_IDS = """
CREATE OR REPLACE TEMP TABLE person_ids AS
SELECT mention_id,
       list(DISTINCT i.scheme || coalesce('@' || i.issuer, '') || ':' || i.value) AS ids,
       list(DISTINCT i.scheme || coalesce('@' || i.issuer, ''))
           FILTER (WHERE i.scheme IN {single}) AS id_schemes,
       list(DISTINCT i.scheme || coalesce('@' || i.issuer, '') || ':' || i.value)
           FILTER (WHERE i.scheme IN {single}) AS single_ids
FROM (SELECT mention_id, unnest(identifiers) AS i FROM person)
WHERE i.valid AND i.value IS NOT NULL
GROUP BY ALL
""".replace("{single}", "(" + ", ".join(f"'{s}'" for s in SINGLE_VALUED_SCHEMES) + ")")

PERSON_FEATURES = """
CREATE OR REPLACE TEMP TABLE person_features AS
WITH live AS (
    -- names found in documents are linked by `peelian extract`, not matched here
    SELECT mention_id, source FROM mentions
    WHERE kind = 'person' AND deleted_at IS NULL AND source <> '{text}'
),
linked_phones AS (
    SELECT l.from_mention AS mention_id, list(DISTINCT ph.number) AS phones
    FROM links l JOIN phone ph ON ph.mention_id = l.to_mention
    WHERE l.type = 'HAS_PHONE' AND l.deleted_at IS NULL AND ph.number_valid
    GROUP BY ALL
),
linked_places AS (
    SELECT l.from_mention AS mention_id,
           min(pl.address_key) AS address_key,
           min(pl.postcode) AS postcode,
           min(CASE WHEN pl.house_number IS NOT NULL AND pl.postcode IS NOT NULL
                    THEN pl.postcode || '|' || pl.house_number END) AS postcode_house
    FROM links l JOIN place pl ON pl.mention_id = l.to_mention
    WHERE l.type = 'LIVES_AT' AND l.deleted_at IS NULL
    GROUP BY ALL
)
SELECT
    p.mention_id AS unique_id,
    live.source,
    nullif(p.first_name_std, '') AS first_name,
    nullif(p.first_name_canonical, '') AS first_name_canon,
    nullif(p.first_name_phonetic, '') AS first_name_ph,
    nullif(p.surname_std, '') AS surname,
    nullif(p.surname_phonetic, '') AS surname_ph,
    CASE WHEN p.date_of_birth_precision = 'day' THEN p.date_of_birth END AS dob,
    CASE WHEN p.date_of_birth_precision = 'day' AND day(p.date_of_birth) <= 12
              AND day(p.date_of_birth) <> month(p.date_of_birth)
         THEN make_date(year(p.date_of_birth), day(p.date_of_birth), month(p.date_of_birth))
    END AS dob_swap,
    CASE WHEN p.date_of_birth_precision IN ('day', 'month')
         THEN strftime(p.date_of_birth, '%Y-%m') END AS dob_ym,
    CAST(year(p.date_of_birth) AS INTEGER) AS dob_year,
    CASE WHEN p.sex IN ('M', 'F') THEN p.sex END AS sex,
    coalesce(nullif(upper(replace(p.postcode, ' ', '')), ''),
             upper(replace(lp.postcode, ' ', ''))) AS postcode,
    lp.address_key,
    lp.postcode_house,
    list_distinct(list_concat(coalesce(p.phones, []), coalesce(ph.phones, []))) AS phones,
    coalesce(list_distinct(list_transform(p.emails, lambda e: lower(e))), []) AS emails,
    coalesce(ids.ids, []) AS ids,
    coalesce(ids.id_schemes, []) AS id_schemes,
    coalesce(ids.single_ids, []) AS single_ids
FROM person p
JOIN live USING (mention_id)
LEFT JOIN linked_phones ph USING (mention_id)
LEFT JOIN linked_places lp USING (mention_id)
LEFT JOIN person_ids ids USING (mention_id)
WHERE p.surname_std IS NOT NULL OR p.first_name_std IS NOT NULL
""".replace("{text}", TEXT_SOURCE)


def build_person_features(con: duckdb.DuckDBPyConnection) -> int:
    """Create the temp table `person_features` of the named person mentions (a mention
    with no name, such as an officer known by collar number, is resolved by its
    identifiers alone), and `person_ids` of every person mention's identifiers;
    return how many named mentions there are."""
    con.execute(PERSON_IDS)
    con.execute(PERSON_FEATURES)
    # fetchall, not fetchone: a half-read result would block Splink on this connection
    rows = con.execute("SELECT count(*) FROM person_features").fetchall()
    return int(rows[0][0])

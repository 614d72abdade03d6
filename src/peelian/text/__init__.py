"""Intelligence text: extract POLE entities and stated relations from free-text reports,
and link the people, phones, plates and addresses they mention to the hub's entities.

The flow, one document at a time (each step a plain function over plain data, so a hub
step can run it per document inside an Arrow batch, or in Spark's ``mapInArrow``):

1. :mod:`peelian.text.tokens` splits the text into tokens that keep their offsets, case
   and line;
2. :mod:`peelian.text.extract` (:class:`~peelian.text.extract.Extractor`) runs rule-based
   finders and gazetteers over it: identifiers and numbers
   (:mod:`~peelian.text.patterns`), addresses, organisations, person names using the
   hub's known people (:mod:`~peelian.text.persons`), drugs and weapons
   (:mod:`~peelian.text.substances`), and the relations the text states
   (:mod:`~peelian.text.relations`), giving an :class:`~peelian.text.spans.Extraction`;
3. :mod:`peelian.text.link` links each person span to a known person, with a
   confidence, from name similarity, aliases and the context in the same report (a
   date of birth, age, phone, plate or address that agrees or disagrees), and links
   phone, plate and address spans whose value a known person holds;
4. :mod:`peelian.text.batch` runs both over an Arrow batch of documents and returns one
   row per mention (with the document's marking and other carried columns) and one row
   per relation: the seam for the hub step that writes mentions into the hub;
5. :mod:`peelian.text.evaluate` measures extraction and linking against the hand-written
   evaluation set (``evalsets/``) and a synthetic force's annotated intelligence reports.

Gazetteers are data: ``peelian/reference`` (names, nicknames, drug and weapon terms,
street slang, line brands, street types) and ``peelian/text/lexicon`` (words only text
extraction needs). No model is downloaded or trained; see ``docs/text.md``.
"""

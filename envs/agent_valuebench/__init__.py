"""Running the published Agent-ValueBench release under valuegym: an adapter and an importer.

The release is not part of valuegym; users point the importer at their own checkout.
"""

"""The templates `trail hooks install` fills in and writes, shipped inside trail as the data package trail._hooks.

A package, not a bare folder, so that an editable install finds it too; see README.md in this folder.
"""

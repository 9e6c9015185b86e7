"""Typed schemas (pydantic) of what users and files hand the package.

- :mod:`.config`: the experiment config (``model``, ``data`` with its ``coco`` and ``vg``
  sections, ``train``), strict types, bounds and the renames of older keys;
- :mod:`.layout`: the layout JSON format (objects, boxes, codes, styles);
- :mod:`.model_folder`: a model folder's ``config.json`` (architecture, trained-on data);
- :mod:`.base`: the strict base model and how pydantic's findings become one message.

This layer sits right above ``errors``/``readers``: it imports no network, dataset or
training code, so validating a config or a layout is cheap and cycle-free.
"""

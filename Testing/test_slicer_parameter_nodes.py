"""The ``@parameterNodeWrapper`` classes of both modules, checked against Slicer's parameterNodeWrapper rules.

slicer-core has no ``slicer.parameterNodeWrapper``, so these are static
(ast) checks of the module files. The rules come from Slicer's own source
(Base/Python/slicer/parameterNodeWrapper/serializers.py and
Docs/developer_guide/parameter_nodes/gui_connection.md):

* A ``Union`` of node classes must include ``None``: ``UnionSerializer.default()``
  of ``Union[A, B]`` is ``None`` (the first NodeSerializer's default), and
  writing that default looks for a serializer that accepts ``None`` -- without
  ``NoneSerializer`` in the Union it raises TypeError when the parameter node
  is created.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = ["CardiacLandmarkGAN", "SutureDetection"]


def parameter_node_classes(module: str) -> list[ast.ClassDef]:
    tree = ast.parse((ROOT / module / f"{module}.py").read_text(encoding="utf-8"))
    return [node for node in tree.body if isinstance(node, ast.ClassDef)
            and any(ast.unparse(d).split("(")[0].split(".")[-1] == "parameterNodeWrapper" for d in node.decorator_list)]


def fields(cls: ast.ClassDef) -> dict[str, ast.expr]:
    return {n.target.id: n.annotation for n in cls.body
            if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}


def unannotated(annotation: ast.expr) -> ast.expr:
    """``Annotated[X, ...]`` -> ``X``."""
    if isinstance(annotation, ast.Subscript) and ast.unparse(annotation.value).split(".")[-1] == "Annotated":
        inner = annotation.slice
        return unannotated(inner.elts[0] if isinstance(inner, ast.Tuple) else inner)
    return annotation


def union_members(annotation: ast.expr) -> list[str] | None:
    """Members of ``Union[...]``, ``Optional[X]`` or ``A | B`` as source text; None when not a Union."""
    annotation = unannotated(annotation)
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        return (union_members(annotation.left) or [ast.unparse(annotation.left)]) + \
            (union_members(annotation.right) or [ast.unparse(annotation.right)])
    if isinstance(annotation, ast.Subscript):
        name = ast.unparse(annotation.value).split(".")[-1]
        inner = annotation.slice
        members = [ast.unparse(e) for e in (inner.elts if isinstance(inner, ast.Tuple) else [inner])]
        if name == "Union":
            return members
        if name == "Optional":
            return members + ["None"]
    return None


def is_node_class(name: str) -> bool:
    return name.split(".")[-1].startswith("vtkMRML")


@pytest.mark.parametrize("module", MODULES)
def test_module_has_one_parameter_node_class_with_an_input(module):
    classes = parameter_node_classes(module)
    assert [c.name for c in classes] == [f"{module}ParameterNode"]
    assert "inputVolume" in fields(classes[0])


@pytest.mark.parametrize("module", MODULES)
def test_every_union_of_nodes_includes_none(module):
    bad = {}
    for cls in parameter_node_classes(module):
        for name, annotation in fields(cls).items():
            members = union_members(annotation)
            if members and any(is_node_class(m) for m in members) and "None" not in members:
                bad[f"{cls.name}.{name}"] = ast.unparse(annotation)
    assert not bad, (f"{bad}: add None to the Union (the wrapper's default for a Union of nodes is None and "
                     f"writing it needs NoneSerializer); keep the node classes, they set the selector's types")


@pytest.mark.parametrize("source,members", [
    ("Union[vtkMRMLVectorVolumeNode, vtkMRMLScalarVolumeNode]", ["vtkMRMLVectorVolumeNode", "vtkMRMLScalarVolumeNode"]),
    ("Optional[vtkMRMLScalarVolumeNode]", ["vtkMRMLScalarVolumeNode", "None"]),
    ("vtkMRMLVectorVolumeNode | vtkMRMLScalarVolumeNode | None",
     ["vtkMRMLVectorVolumeNode", "vtkMRMLScalarVolumeNode", "None"]),
    ("Annotated[typing.Union[vtkMRMLModelNode, None], 1]", ["vtkMRMLModelNode", "None"]),
    ("vtkMRMLScalarVolumeNode", None),
    ("Annotated[float, WithinRange(0.0, 1.0)]", None),
])
def test_union_members_reads_every_spelling(source, members):
    """The check above sees every way a Union can be written (so it cannot miss one)."""
    assert union_members(ast.parse(source, mode="eval").body) == members

"""Build, from files that registry packages ship, the two assets Isaac Lab 3.0's Isaac-Cartpole loads.

    python tests/support/isaaclab_assets.py ASSET_ROOT   (with the Isaac Lab venv's python: it needs pxr and newton)

then run Isaac Lab (or `metrictap train`) with ``ISAACSIM_ASSET_ROOT=ASSET_ROOT``. Isaac Lab resolves
``ISAACLAB_NUCLEUS_DIR`` to ``$ISAACSIM_ASSET_ROOT/Isaac/IsaacLab`` and reads, for Isaac-Cartpole:

- ``Robots/Classic/Cartpole/cartpole.usd``: the robot. The ``newton`` wheel carries
  ``newton/examples/assets/cartpole_single_pendulum.usda``, whose header says it was imported from that very
  file (same prim names, joints ``slider_to_cart`` / ``cart_to_pole``); it is re-exported with its default prim
  pointed at the prim that exists (``cartpole``; the shipped file names ``cartPole``).
- ``Environments/Grid/default_ground_plane_checker_v1/default_ground_plane.usda``: the ground. Isaac Lab's
  ground-plane spawner binds its physics material to the first ``Plane`` prim below the spawned prim, so a
  ``GroundPlane`` Xform holding one collision ``Plane`` (normal +Z) is all it needs.

Instead of ``ISAACSIM_ASSET_ROOT``, Hydra overrides work too:
``env.scene.robot.spawn.usd_path=ASSET_ROOT/Isaac/IsaacLab/Robots/Classic/Cartpole/cartpole.usd env.scene.ground=null``.
"""

from __future__ import annotations

import sys
from importlib.resources import files
from pathlib import Path

from pxr import Sdf, Usd, UsdGeom, UsdPhysics

ROBOT = "Isaac/IsaacLab/Robots/Classic/Cartpole/cartpole.usd"
GROUND = "Isaac/IsaacLab/Environments/Grid/default_ground_plane_checker_v1/default_ground_plane.usda"


def build_robot(path: Path) -> None:
    """Re-export newton's cartpole (imported from Isaac Lab's own cartpole.usd) with a default prim that exists."""
    source = files("newton") / "examples" / "assets" / "cartpole_single_pendulum.usda"
    layer = Sdf.Layer.FindOrOpen(str(source))
    if layer is None:
        raise SystemExit(f"cannot open {source}")
    stage = Usd.Stage.Open(layer)
    root = stage.GetPrimAtPath("/cartpole")
    if not root.IsValid():
        raise SystemExit(f"{source} has no /cartpole prim")
    stage.SetDefaultPrim(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    stage.Export(str(path))


def build_ground(path: Path) -> None:
    """A Z-up ground: an Xform ``/GroundPlane`` holding one collision Plane, as Isaac Lab's spawner expects."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    root = UsdGeom.Xform.Define(stage, "/GroundPlane")
    stage.SetDefaultPrim(root.GetPrim())
    plane = UsdGeom.Plane.Define(stage, "/GroundPlane/CollisionPlane")
    plane.CreateAxisAttr(UsdGeom.Tokens.z)
    UsdPhysics.CollisionAPI.Apply(plane.GetPrim())
    stage.GetRootLayer().Save()


def main(argv: list[str]) -> int:
    """Write both assets under the asset root given as the only argument and print it."""
    if len(argv) != 1:
        print("usage: isaaclab_assets.py ASSET_ROOT", file=sys.stderr)  # noqa: T201 - a script's usage line
        return 2
    root = Path(argv[0]).resolve()
    build_robot(root / ROBOT)
    build_ground(root / GROUND)
    print(root)  # noqa: T201 - the script's output
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

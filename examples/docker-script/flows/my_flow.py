# flows/my_flow.py: the seed's example with script-based Docker storage.
import os

from flowimg import task, Flow
from flowimg.storage import Docker

HERE = os.path.dirname(os.path.abspath(__file__))


@task
def get_data():
    return [1, 2, 3, 4, 5]


@task
def print_data(data):
    print(data)


with Flow("example") as flow:
    data = get_data()
    print_data(data)

flow.storage = Docker(
    path="/opt/flows/my_flow.py",
    files={os.path.join(HERE, "my_flow.py"): "/opt/flows/my_flow.py"},
    stored_as_script=True,
    registry_url=os.environ.get("FLOWIMG_REGISTRY", "localhost:5000"),
    image_name="flowimg-example",
    base_image=os.environ.get("FLOWIMG_BASE_IMAGE", "flowimg/python-base:bookworm"),
)

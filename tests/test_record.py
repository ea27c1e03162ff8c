"""Record, the plain data class of the warm build path: equality, hashing and repr follow its fields."""
from flowimg.image.layers import Layer
from flowimg.image.reference import Reference
from flowimg.image.registry_builder import BuildOptions
from flowimg.image.registry_client import Credentials


def test_equality_and_hashing_follow_the_fields():
    one, same, other = Reference("r:5000", "team/flows", "1"), Reference("r:5000", "team/flows", "1"), \
        Reference("r:5000", "team/flows", "2")
    assert one == same and hash(one) == hash(same)
    assert one != other and len({one, same, other}) == 2
    assert one != ("r:5000", "team/flows", "1", None)  # a record equals only its own kind


def test_repr_names_the_fields_and_hides_secrets():
    assert repr(Reference("r:5000", "team/flows")) == "Reference(registry='r:5000', path='team/flows', tag=None, digest=None)"
    options = BuildOptions(builder="registry", credentials=Credentials("ci", "s3cret-pass"))
    assert "s3cret-pass" not in repr(options) and "s3cret-pass" not in repr(Credentials("ci", "s3cret-pass"))
    assert repr(Credentials("ci", "s3cret-pass")) == "Credentials(username='ci')"


def test_a_layer_compares_without_its_bytes():
    made = Layer("code", "sha256:aa", 3, "sha256:bb", "COPY code/ /", ("flow.py",), data=b"abc")
    cached = Layer("code", "sha256:aa", 3, "sha256:bb", "COPY code/ /", ("flow.py",), path=None)
    assert made == cached and "abc" not in repr(made)
    assert made != Layer("code", "sha256:cc", 3, "sha256:bb", "COPY code/ /", ("flow.py",), data=b"abc")

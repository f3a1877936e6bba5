import os.path as osp

from setuptools import find_packages, setup


def parse_requirements(fname: str) -> list:
    """Read a requirements file, skipping comments and ``-r`` includes."""
    reqs = []
    with open(osp.join(osp.dirname(__file__), fname)) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(('#', '-r')):
                reqs.append(line)
    return reqs


def get_version() -> str:
    scope: dict = {}
    with open(osp.join(osp.dirname(__file__), 'cissreg', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


# one extra per method family (cissreg.utils.optional_import names them in its errors)
EXTRAS = {name: parse_requirements(f'requirements/{name}.txt') for name in ('clip', 'gcd', 'mllm')}
EXTRAS['all'] = sorted({req for reqs in EXTRAS.values() for req in reqs})
EXTRAS['tests'] = EXTRAS['all'] + parse_requirements('requirements/tests.txt')

setup(
    name='cissreg',
    version=get_version(),
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'benchmarks', 'docs')),
    include_package_data=True,
    install_requires=parse_requirements('requirements/runtime.txt'),
    extras_require=EXTRAS,
    python_requires='>=3.9',
    zip_safe=False,
)

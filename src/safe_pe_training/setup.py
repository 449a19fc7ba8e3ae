from setuptools import find_packages, setup

package_name = 'safe_pe_training'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='safe_pe developers',
    maintainer_email='safe-pe@example.com',
    description=open('package.xml').read().split('<description>')[1].split('</description>')[0],
    license='Apache-2.0',
    extras_require={'test': ['pytest']},
    entry_points={
        'console_scripts': [
            'safe_pe_train = safe_pe_training.cli:main',
            'safe_pe_training_node = safe_pe_training.ros.training_node:main',
            'safe_pe_metrics_node = safe_pe_training.ros.metrics_node:main',
            'safe_pe_policy_node = safe_pe_training.ros.policy_node:main',
            'safe_pe_stack = safe_pe_training.ros.stack:main',
            'safe_pe_recorder_node = safe_pe_training.ros.recorder_node:main',
        ],
    },
)

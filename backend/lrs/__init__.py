"""The xAPI resources besides statements: State, Activity Profile and Agent Profile
documents (``documents``), and the Agents, Activities resources (``controllers``)."""

"""The caption index stage: VSE caption vectors, the FAISS index over them, and retrieval for images."""

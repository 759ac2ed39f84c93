package workload

import (
	"errors"
	"fmt"

	"gantry/store"
)

// Store adapts gantry's store to Engine: one bucket, one transaction per Update.
type Store struct {
	DB *store.DB
}

var bucketName = []byte("kv")

// OpenStore opens (creating) a store database at path for the workloads.
func OpenStore(path string, opts *store.Options) (*Store, error) {
	db, err := store.Open(path, opts)
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *store.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketName)
		return err
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &Store{DB: db}, nil
}

func (s *Store) Name() string { return "gantry" }

func (s *Store) Update(kvs []KV) error {
	for {
		err := s.DB.Update(func(tx *store.Tx) error {
			b, err := tx.Bucket(bucketName)
			if err != nil {
				return err
			}
			for _, kv := range kvs {
				if err := b.Put(kv.K, kv.V); err != nil {
					return err
				}
			}
			return nil
		})
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
}

func (s *Store) Get(key []byte) ([]byte, error) {
	var v []byte
	err := s.DB.View(func(tx *store.Tx) error {
		b, err := tx.Bucket(bucketName)
		if err != nil {
			return err
		}
		v, err = b.Get(key)
		return err
	})
	return v, err
}

func (s *Store) Scan(start []byte, n int) (int, error) {
	got := 0
	err := s.DB.View(func(tx *store.Tx) error {
		b, err := tx.Bucket(bucketName)
		if err != nil {
			return err
		}
		c := b.Cursor()
		for k, _ := c.Seek(start); k != nil && got < n; k, _ = c.Next() {
			got++
		}
		return c.Err()
	})
	return got, err
}

func (s *Store) Close() error { return s.DB.Close() }

// Load uses the store's bulk-load path (Options.NoSync off: one durable commit).
func (s *Store) Load(n int, kv func(i int) KV) error {
	i := 0
	got, err := s.DB.Load([]byte("sorted"), func() ([]byte, []byte, error) {
		if i == n {
			return nil, nil, nil
		}
		e := kv(i)
		i++
		return e.K, e.V, nil
	})
	if err == nil && got != n {
		err = fmt.Errorf("store: loaded %d of %d entries", got, n)
	}
	return err
}
